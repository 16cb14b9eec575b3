"""The training wing: training samples (dataset, augment), the training loop (train), and quality
against the truth (evaluate, metrics)."""
