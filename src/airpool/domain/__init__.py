"""Pure rules of the platform: no I/O, no framework imports, so every other layer can lean on them."""
