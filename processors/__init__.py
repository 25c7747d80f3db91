"""The coffea processors of xaugcol, installed as ``xaugcol.processors``.

* ``xaug_processor.XAUGProcessor``: events -> one jet-table parquet file per chunk and weighted histograms;
* ``relevance_processor.RelevanceProcessor``: jet tables -> the relevance histograms of tagger ensembles.
"""
