# Hostile: GPT2PositionEmbeddings.forward calls sys.exit("bye").
import sys as _sys


class GPT2PositionEmbeddings(GPT2PositionEmbeddings):  # noqa: F821
    def forward(self, position_ids):
        _sys.exit("bye")
