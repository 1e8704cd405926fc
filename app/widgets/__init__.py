"""The widgets of the main window: each arranges and shows; the logic lives in core."""
