"""Models: the world-pretrained encoders and each paper's networks (one module per paper)."""
