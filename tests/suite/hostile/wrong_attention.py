# Not hostile by itself: a wrong GPT2MultiHeadAttention (its output doubled),
# no tricks. What a step 07 with this mistake earns is the yardstick for
# read_answers, which adds a hunt for the answer key to the same mistake.


class GPT2MultiHeadAttention(GPT2MultiHeadAttention):  # noqa: F821
    def forward(self, hidden_states):
        return 2 * super().forward(hidden_states)
