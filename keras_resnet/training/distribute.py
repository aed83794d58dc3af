"""`--strategy` resolution: tf.distribute on the TensorFlow backend, `keras.distribution` on JAX.

Names: `"tpu"` (TPUClusterResolver: `--tpu` names a Cloud TPU; `"local"` or none on a TPU VM),
`"mirrored"` (all local GPUs, or logical CPUs), `"multi_worker"` (MultiWorkerMirroredStrategy,
cluster from `TF_CONFIG`), `"one_device"`, `"none"` (no strategy: Keras' default placement, on any
backend), and `"auto"`: multi-worker when `TF_CONFIG` names several workers, else the local TPU,
else all local GPUs, else one device (or, where the caller asks, no strategy).

On the JAX backend every name but `"one_device"` means data parallelism
(`keras.distribution.DataParallel`): over all local devices, or, for `"multi_worker"` (and
`"auto"` where `KERAS_DISTRIBUTION_NUM_PROCESSES` names several), over the devices of all the
job's processes, which `keras.distribution.initialize()` joins: its variables
`KERAS_DISTRIBUTION_JOB_ADDRESSES` (the coordinator first), `KERAS_DISTRIBUTION_NUM_PROCESSES`,
`KERAS_DISTRIBUTION_PROCESS_ID`, or JAX's own detection on Cloud TPU VMs and SLURM. CPU devices
join through gloo collectives. Each process then feeds its own share of every batch (the recipe's
pipelines shard themselves; Keras' `auto_shard_dataset` is off).

MultiWorkerMirroredStrategy needs a fix to run Keras 3's `fit` (`multi_worker`).

Example:

>>> resolved = resolve("one_device")
>>> resolved.name, resolved.num_replicas
('one_device', 1)
>>> resolve("gpus")
Traceback (most recent call last):
...
keras_resnet.training.distribute.StrategyError: unknown --strategy 'gpus': choose one of auto, tpu, mirrored, multi_worker, one_device, none
"""

import contextlib
import dataclasses
import glob
import json
import os

import numpy as np

from keras_resnet.errors import RecipeError
from keras_resnet.training import multi_worker
from keras_resnet.training.config import STRATEGIES


class StrategyError(RecipeError):
    """A strategy that cannot run here, with a one-line message."""


@dataclasses.dataclass
class Resolved:
    """A resolved strategy.

    Attributes:
        name: str. The strategy name actually used (`"auto"` resolved).
        strategy: a `tf.distribute.Strategy`, a `keras.distribution.Distribution` (JAX), or
            `None` (Keras' default placement).
        num_replicas: int. Replicas in sync; the global batch is split across them.
        num_workers: int. Processes in the job.
        worker_index: int. This process's index.
    """

    name: str
    strategy: object = None
    num_replicas: int = 1
    num_workers: int = 1
    worker_index: int = 0

    def scope(self):
        """A context in which to build and compile the model."""
        if self.strategy is None:
            return contextlib.nullcontext()
        return self.strategy.scope()

    @property
    def is_tf(self):
        """Whether `strategy` is a `tf.distribute.Strategy`."""
        return self.strategy is not None and hasattr(self.strategy, "num_replicas_in_sync")

    @property
    def is_chief(self):
        """Whether this process writes the run's files (worker 0)."""
        return self.worker_index == 0


def configure_cpu_devices(count):
    """Splits the CPU into `count` logical devices; must run before any TensorFlow op.

    Args:
        count: int. Number of logical CPU devices (e.g. 2 to test `mirrored` without GPUs).
    """
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    try:
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:  # TensorFlow has run: fine where it already has as many devices.
        if len(tf.config.list_logical_devices("CPU")) != count:
            raise


def tf_config():
    """The parsed `TF_CONFIG` environment variable, or `{}`."""
    text = os.environ.get("TF_CONFIG", "")
    try:
        return json.loads(text) if text else {}
    except json.JSONDecodeError:
        raise StrategyError(f"TF_CONFIG is not valid JSON. Received: {text[:80]!r}") from None


def _num_tf_config_workers():
    cluster = tf_config().get("cluster", {})
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


def _local_tpu_present():
    # TPU VMs expose the chips as /dev/accel* (v2-v4) or /dev/vfio/N (v5 and later).
    return bool(glob.glob("/dev/accel*") or [p for p in glob.glob("/dev/vfio/*") if os.path.basename(p).isdigit()])


def all_reduce_sum(resolved, *arrays):
    """Sums NumPy arrays over the processes of a job (tf.distribute workers, or JAX processes; each
    gives its own);
    returns the totals as float64 arrays, the same in every process.

    Each process's values enter once, whatever its replica count: its first replica gives them,
    the others zeros. Float64 sums of integers below 2**53 are exact, in any order.
    """
    if not resolved.is_tf:  # A JAX job: each process's arrays gathered, then summed here.
        from jax.experimental import multihost_utils

        def gathered(array):  # As 32-bit words: JAX without x64 would round float64 to float32.
            words = np.ascontiguousarray(np.asarray(array, np.float64)).view(np.uint32)
            return np.asarray(multihost_utils.process_allgather(words)).view(np.float64)

        return [gathered(a).sum(axis=0) for a in arrays]
    import tensorflow as tf

    strategy = resolved.strategy
    local = strategy.num_replicas_in_sync // resolved.num_workers
    first = resolved.worker_index * local
    values = [tf.constant(np.asarray(a, np.float64)) for a in arrays]

    def share():
        context = tf.distribute.get_replica_context()
        mine = tf.cast(tf.equal(context.replica_id_in_sync_group, first), tf.float64)
        return context.all_reduce("SUM", [v * mine for v in values])

    totals = strategy.experimental_local_results(strategy.run(share))[0]
    return [t.numpy() for t in totals]


def build_from_shapes(model, resolved, batch):
    """Builds a compiled `model`'s state (variables, metrics, optimizer) from the shapes and
    dtypes of its data, so that `fit` and `evaluate` need not open the data to learn them.

    Keras' TensorFlow trainer, under a tf.distribute strategy, opens the dataset once more before
    each `fit` and `evaluate` and reads a batch from it, however built the model already is; for
    ImageNet that is a training batch decoded (and, for record sources, a shuffle window read)
    twice at every start. Once built here, that read is skipped. Other backends read nothing
    once the model is built.

    Args:
        model: a compiled `keras.Model`.
        resolved: the `Resolved` strategy the model was compiled under.
        batch: `(x, y)` of `keras.KerasTensor`s (or anything with `shape` and `dtype`).
    """
    with resolved.scope():
        model._symbolic_build(data_batch=batch)
    if hasattr(model, "_maybe_symbolic_build"):  # The TensorFlow trainer's read before fit/evaluate.
        model._maybe_symbolic_build = lambda iterator=None, data_batch=None: None


def resolve(name="auto", tpu=None, single_device="one_device"):
    """Resolves a `--strategy` name for the current Keras backend.

    Args:
        name: str. One of `STRATEGIES`. Defaults to `"auto"`.
        tpu: optional str. Cloud TPU name or address for `"tpu"`; `None` or `"local"` means the
            TPU of this TPU VM.
        single_device: str. What `"auto"` means on a machine of one device: `"one_device"` or
            `"none"`. Defaults to `"one_device"`.

    Returns:
        A `Resolved`.

    Raises:
        StrategyError: an unknown name, or a strategy this machine cannot run (e.g. `"tpu"`
            without a TPU), with a one-line message.
    """
    if name not in STRATEGIES:
        raise StrategyError(f"unknown --strategy {name!r}: choose one of {', '.join(STRATEGIES)}")
    if name == "none":
        return Resolved("none")
    import keras

    backend = keras.backend.backend()
    if backend == "jax":
        return _resolve_jax(name, single_device)
    if backend != "tensorflow":
        if name not in ("auto", "one_device"):
            raise StrategyError(
                f"--strategy={name} needs KERAS_BACKEND=tensorflow or jax; the {backend} backend runs on one device"
            )
        return Resolved("one_device" if name == "one_device" else single_device)
    return _resolve_tf(name, tpu, single_device)


def resolve_runtime(runtime):
    """The strategy of a run's `config.Runtime`: the CPU split first where `cpu_devices` asks
    (`configure_cpu_devices`), then `resolve(strategy, tpu)`, one device meaning no strategy."""
    if runtime.cpu_devices:
        try:
            configure_cpu_devices(runtime.cpu_devices)
        except RuntimeError:
            raise StrategyError(
                f"--cpu_devices={runtime.cpu_devices} must be set before TensorFlow runs anything: in a process of "
                "its own (the recipes do), not after TensorFlow has run"
            ) from None
    return resolve(runtime.strategy, runtime.tpu, single_device="none")


def _resolve_tf(name, tpu, single_device):
    import tensorflow as tf

    if name == "auto":
        if _num_tf_config_workers() > 1:
            name = "multi_worker"
        elif tpu or _local_tpu_present():
            name = "tpu"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        elif single_device == "none":
            return Resolved("none")
        else:
            name = "one_device"
    if name == "tpu":
        return Resolved("tpu", _tpu_strategy(tpu))
    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
        return Resolved("mirrored", strategy, strategy.num_replicas_in_sync)
    if name == "multi_worker":
        if _num_tf_config_workers() < 1:
            raise StrategyError(
                "--strategy=multi_worker needs TF_CONFIG with a cluster of workers (see tf.distribute.MultiWorkerMirroredStrategy)"
            )
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        multi_worker.patch_reduce(strategy, scalars=multi_worker.reduce_fix_needed())
        resolver = strategy.cluster_resolver
        task = resolver.task_id if resolver.task_type in (None, "worker") else 0
        workers = max(1, _num_tf_config_workers())
        if resolver.task_type == "worker" and tf_config().get("cluster", {}).get("chief"):
            task += 1
        return Resolved("multi_worker", strategy, strategy.num_replicas_in_sync, workers, task)
    device = "/gpu:0" if tf.config.list_logical_devices("GPU") else "/cpu:0"
    return Resolved("one_device", tf.distribute.OneDeviceStrategy(device))


def _tpu_strategy(tpu):
    import tensorflow as tf

    if tpu in (None, "", "local") and not _local_tpu_present():
        raise StrategyError(
            "--strategy=tpu: no TPU on this machine (no /dev/accel*, no /dev/vfio); pass --tpu=NAME for a "
            "Cloud TPU, or choose --strategy=auto, mirrored, one_device or multi_worker"
        )
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu or "local")
        if tpu not in (None, "", "local"):
            tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
    except (ValueError, RuntimeError, OSError, tf.errors.OpError) as error:  # OSError: urllib's URLError off Cloud
        message = str(getattr(error, "reason", None) or error).strip()
        message = message.splitlines()[0] if message else type(error).__name__
        raise StrategyError(f"--strategy=tpu --tpu={tpu or 'local'}: cannot connect to the TPU: {message}") from None
    return Resolved("tpu", strategy, strategy.num_replicas_in_sync)


_jax_job = None  # The `Resolved` of this process's multi-process JAX job, once joined.
PROCESSES_ENV = "KERAS_DISTRIBUTION_NUM_PROCESSES"


def _jax_processes():
    try:
        return int(os.environ.get(PROCESSES_ENV, "1"))
    except ValueError:
        raise StrategyError(f"{PROCESSES_ENV} must be an integer. Received: {os.environ[PROCESSES_ENV]!r}") from None


def _join_jax_job():
    """Joins the multi-process JAX job (once per process) and returns its `Resolved`: data
    parallel over every process's devices, the batch fed by each process's own pipeline."""
    global _jax_job
    if _jax_job is None:
        import jax
        import keras

        jax.config.update("jax_cpu_collectives_implementation", "gloo")  # CPU devices; no effect on others.
        try:
            keras.distribution.initialize()
        except (RuntimeError, ValueError) as error:
            raise StrategyError(f"--strategy=multi_worker on JAX: {' '.join(str(error).split())}") from None
        distribution = keras.distribution.DataParallel(devices=jax.devices(), auto_shard_dataset=False)
        keras.distribution.set_distribution(distribution)  # For fit and evaluate too, outside any scope.
        _jax_job = Resolved(
            "data_parallel(multi_worker)",
            distribution,
            len(jax.devices()),
            num_workers=jax.process_count(),
            worker_index=jax.process_index(),
        )
    return _jax_job


def _resolve_jax(name, single_device):
    import jax
    import keras

    if name == "one_device":
        return Resolved("one_device")
    if name == "multi_worker" or (name == "auto" and _jax_processes() > 1):
        return _join_jax_job()
    devices = jax.devices()
    if name == "tpu" and devices[0].platform != "tpu":
        raise StrategyError(
            f"--strategy=tpu: JAX sees no TPU here (devices: {devices[0].platform}); choose --strategy=auto or one_device"
        )
    if len(devices) == 1:
        return Resolved(single_device if name == "auto" else "one_device")
    distribution = keras.distribution.DataParallel(devices=devices)
    return Resolved(f"data_parallel({name})", distribution, len(devices))
