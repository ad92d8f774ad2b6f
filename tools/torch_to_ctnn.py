#!/usr/bin/python3
"""Converts a PyTorch module or an ONNX model into a ctnn network type and its weights.

    /usr/bin/python3 tools/torch_to_ctnn.py SOURCE --out DIR [--name NAME] [--namespace NS]
                     [--input-shape C,H,W | T,F] [--state-dict FILE] [--check]

SOURCE is file.py:function (the function returns an nn.Module), model.onnx, or a ctnn model
file (.ctnn) or safetensors file saved by ctnn, whose network type is written as a header.
docs/from-pytorch.md describes the files written, what is mapped and what is refused. Needs
Debian's python3-torch, python3-onnx (for ONNX sources) and python3-numpy. Exit status: 0 done,
1 an unreadable file, a bad flag or a failed --check, 2 the source holds something ctnn cannot
compute exactly (nothing is written then).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from ctnn_convert.main import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main())
