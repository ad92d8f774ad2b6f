"""Conversion of PyTorch modules and ONNX models into ctnn network types and weights.

The command-line program is tools/torch_to_ctnn.py; docs/from-pytorch.md describes it.
"""
