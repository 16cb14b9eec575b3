"""The batch wing: an archive folder coloured resumably (archive), its manifest (manifest), films
split in pieces across workers (pieces), and the Ray executor and its workers (ray_executor,
ray_worker)."""
