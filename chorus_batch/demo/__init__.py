"""Demo material: a generator of realistic French public-procurement orders (``generate``)."""
