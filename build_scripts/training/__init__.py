"""Training the bundled model: the synthetic reasoning curriculum, supervised and RL stages, evaluation.

It builds the product and never ships in it (not in the wheel, not in the bundle); what the product needs of it
is data: the held-out questions beside the model (``export_heldout``), graded by ``core.bench.scoring``.
"""
