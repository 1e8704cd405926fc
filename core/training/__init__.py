"""Training the bundled model: the synthetic reasoning curriculum, supervised and RL stages, evaluation."""
