"""Grid runs (`xview map`, `index`, `search`) on a Dask cluster, resumable after a crash.

Without ``--cluster`` none of this is imported, nor is Dask. With it, the grid is cut into blocks
of tile rows (``blocks``), each a Dask task that opens the raster by path and loads the model once
per worker process (``worker``); each block lands in its own file of the run's work folder, written
under a temporary name and renamed, with the key of the run's inputs and options (``resume``). The
client (``client``: a LocalCluster or an existing scheduler) waits for the blocks with the usual
progress bar, then the tool assembles its outputs from the block files (``run`` for the index and
search rows, ``map_products`` for the map's products) exactly as a single-process run writes them.
"""
