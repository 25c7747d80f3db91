"""Processing: coffea runs that turn events into jet tables, histograms and a report.

* ``process_fileset``: a whole processing run into an output folder (``coffea_runner``: filesets, execution
  settings and coffea's Runner; ``executors``: the executors by name);
* ``jet_table``, ``lepton_table``, ``opendata_table``: the rows of a chunk, by kind of input file; ``settings``:
  what a table holds;
* ``table_io``, ``table_fileset``: the tables on disk and read back; ``histograms``: the weighted histograms;
* ``checkpoints``, ``chunk_guard``, ``outputs``: resumable runs, failing chunks, and what a run may remove.
"""
