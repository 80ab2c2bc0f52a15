# Hostile: GPT2Embeddings.forward never returns.
class GPT2Embeddings(GPT2Embeddings):  # noqa: F821
    def forward(self, input_ids):
        n = 0
        while True:
            n += 1
