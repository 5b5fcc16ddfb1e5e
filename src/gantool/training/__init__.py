"""The parts of the training loop (gantool/trainer.py), one job per module.

- device.py: which device, which precision (autocast dtype), seeds, moving batches there
- ema.py: the exponential moving average of the generators
- optimizers.py: optimizers per phase (with the recipe's auxiliary modules), the schedule, grad norms
- signals.py: Ctrl-C / SIGTERM become a checkpoint at the next step boundary
- runfiles.py: the run folder's metrics.jsonl and checkpoint files
- snapshots.py: sample grids, validation records and checkpoints/best.pt
"""
