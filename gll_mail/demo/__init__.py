"""`gll-mail demo`: the main job on embedded defaults, with the GLL's catalog and generated members."""
