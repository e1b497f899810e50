"""Host tools: the CLI, the targets the firmware runs on, flashing, and checking."""
