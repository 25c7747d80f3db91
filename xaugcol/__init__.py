"""xaugcol: explain why jet taggers decide as they do.

Data flow (see the README): sources/ write NanoAOD-style ROOT files, processors/ turn them into jet tables,
taggers are trained on those tables and explained with layer-wise relevance propagation.
"""

__version__ = "0.1.0"
