"""The model: its manifest and file, backbones and heads, distributions, label spaces and runtimes.

Nothing is imported here, so that reading a manifest never pulls in torch.
"""
