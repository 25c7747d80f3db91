"""Energy-flow polynomials (Komiske, Metodiev, Thaler), computed by the toolkit itself: energyflow cannot be
imported next to numpy 2. ``graphs`` enumerates the multigraphs, ``evaluate`` computes their EFPs over a batch of
jets at once."""
