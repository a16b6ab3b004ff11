"""The verifiable log (SPEC §9): Merkle tree, signed checkpoints, proofs and witnesses."""
