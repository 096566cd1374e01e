"""Processes: the standard launcher environment (RANK, WORLD_SIZE, MASTER_ADDR, MASTER_PORT,
LOCAL_RANK, LOCAL_WORLD_SIZE; what torchrun, SLURM wrappers or `--nproc N` set), the process
groups, and the local launcher `--nproc N` uses where torchrun is unavailable or broken (Debian's
PyTorch 1.13 under Python 3.11: torchrun crashes at start-up).

Groups: DDP uses the default group (gloo on CPU, nccl on CUDA); MoE routing gathers go through a
second group of the same backend (so they never interleave with DDP's gradient buckets); control
flags, step totals and start-up objects go through a gloo group on CPU tensors.
"""
import datetime
import os
import socket
import sys
import threading


class World:
    def __init__(self):
        env = os.environ
        self.rank = int(env.get("RANK", "0"))
        self.world_size = int(env.get("WORLD_SIZE", "1"))
        self.local_rank = int(env.get("LOCAL_RANK", str(self.rank)))
        self.local_world_size = int(env.get("LOCAL_WORLD_SIZE", str(self.world_size)))
        self.backend = None
        self.routing_group = None
        self.cpu_group = None

    @property
    def distributed(self):
        return self.world_size > 1

    @property
    def leader(self):
        return self.rank == 0

    def init(self, device):
        if not self.distributed:
            return
        import torch.distributed as dist
        for key in ("MASTER_ADDR", "MASTER_PORT"):
            if key not in os.environ:
                raise RuntimeError(f"WORLD_SIZE is {self.world_size} but {key} is not set (use torchrun, --nproc N, or set it)")
        self.backend = "nccl" if device.type == "cuda" else "gloo"
        dist.init_process_group(self.backend, init_method="env://", rank=self.rank, world_size=self.world_size,
                                timeout=datetime.timedelta(minutes=60))
        self.routing_group = dist.new_group(backend=self.backend)
        self.cpu_group = dist.new_group(backend="gloo")

    def all_reduce_cpu(self, values, op="sum"):
        """float64 numpy-like list -> reduced list (identity in one process)."""
        if not self.distributed:
            return list(values)
        import torch
        import torch.distributed as dist
        t = torch.tensor(values, dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.SUM if op == "sum" else dist.ReduceOp.MAX, group=self.cpu_group)
        return t.tolist()

    def broadcast_object(self, obj):
        """rank 0's obj on every rank."""
        if not self.distributed:
            return obj
        import torch.distributed as dist
        box = [obj]
        dist.broadcast_object_list(box, src=0, group=self.cpu_group)
        return box[0]

    def broadcast_tensors(self, tensors):
        if not self.distributed:
            return
        import torch.distributed as dist
        for t in tensors:
            dist.broadcast(t, src=0, group=self.routing_group)

    def shutdown(self):
        if self.distributed:
            import torch.distributed as dist
            if dist.is_initialized():
                dist.destroy_process_group()


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _child(index, argv, env):
    """Entry of a process started by launch_local (rank index + 1)."""
    os.environ.update(env)
    os.environ["RANK"] = os.environ["LOCAL_RANK"] = str(index + 1)
    from .train import run_from_argv
    code = run_from_argv(argv)
    sys.stdout.flush()
    if code:
        sys.exit(code)


def launch_local(argv, nproc, run_rank0, on_child_failure):
    """Run rank 0 in this process and ranks 1..nproc-1 as children (torch.multiprocessing, spawn),
    with the launcher environment set. A child that fails makes this process fail too (after
    `on_child_failure(message)`), rather than wait for it in a collective."""
    import torch.multiprocessing as mp
    env = {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(free_port()), "WORLD_SIZE": str(nproc),
           "LOCAL_WORLD_SIZE": str(nproc)}
    os.environ.update(env)
    os.environ["RANK"] = os.environ["LOCAL_RANK"] = "0"
    spawn = mp.get_context("spawn")
    children = [spawn.Process(target=_child, args=(i, argv, env), name=f"motlab_torch rank {i + 1}") for i in range(nproc - 1)]
    for p in children:
        p.start()
    finished = threading.Event()

    def watch():
        while not finished.is_set():
            for i, p in enumerate(children):
                if p.exitcode not in (None, 0):
                    if finished.wait(10):  # rank 0 saw the same failure and is reporting it itself
                        return
                    for q in children:
                        if q.is_alive():
                            q.terminate()
                    on_child_failure(f"training process rank {i + 1} exited with code {p.exitcode}")
                    os._exit(1)
            finished.wait(0.5)

    threading.Thread(target=watch, daemon=True).start()
    try:
        code = run_rank0()
    except BaseException:
        finished.set()
        for p in children:
            if p.is_alive():
                p.terminate()
        raise
    for p in children:
        p.join()
    finished.set()
    failed = [(i + 1, p.exitcode) for i, p in enumerate(children) if p.exitcode != 0]
    if failed and not code:
        on_child_failure(f"training process rank {failed[0][0]} exited with code {failed[0][1]}")
        return 1
    return code
