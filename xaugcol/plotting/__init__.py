"""mplhep figures (CMS style) of inputs, performance and relevance; each saved as PNG and PDF."""
