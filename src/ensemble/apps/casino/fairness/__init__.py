"""Provably fair state per member (A2): the committed server seed, the client seed, the
nonce every play advances, rotation (reveal and re-commit), and verification."""
