"""motlab_torch: MoT Lab's model family, data format, optimizer and run folders in PyTorch.

Train with `python3 -m motlab_torch.train` (one process, --nproc N local processes, or under
torchrun / any launcher that sets RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT); the run folder it
writes opens in the lab. See README.md beside this file.
"""
ENGINE_NAME = "torch"
__version__ = "0.1.0"
