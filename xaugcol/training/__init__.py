"""Training the taggers: jet tables read lazily into batches (``data``), one ensemble member and ensembles of seeds
(``train``), studies of several taggers (``study``), and the measurements built on them: performance metrics
(``metrics``), the XAUG gain (``gain``), matched pT spectra (``pt_spectrum``), the training domain (``domain``),
reduced XAUG sets (``reduced``) and retrainings after occlusion (``pruning``); members trained side by side in
processes of this machine (``member_pool``).
"""
