"""The film wing, in the order a film goes through it: its cuts and shot plan (cuts, shot_plan,
truecolor), the direction of each shot (direction_file, shot_director), the colour pass (stages,
temporal), the segments that make it resumable (segments) and `remaster()` that runs it all
(remaster), over one settled setup per film (run); shot_list is `vidcolor shots`."""
