"""A torch.profiler run over a few training iterations, by phase of the step
and by operator."""
import torch
from mmengine.hooks import Hook

from benchmarks.gpu.step_timing import StepTimes
from mmseg_csl.models.utils.step_phases import PHASE_RANGE_PREFIX
from mmseg_csl.utils import markdown_table


class StepProfile:
    """A hook that runs torch.profiler over ``count`` iterations from
    iteration ``start`` and writes to ``path``: per phase of the step, its host
    time and the GPU time of the kernels it launched (is a phase bound by the
    GPU or by the host launching its kernels?), and the operators' totals by
    self GPU time and by CPU time."""

    def __init__(self, start: int, count: int, path: str) -> None:
        profile = self

        class Profile(Hook):
            priority = 'LOWEST'

            def before_train_iter(self, runner, batch_idx, data_batch=None):
                if batch_idx == start:
                    activities = [torch.profiler.ProfilerActivity.CPU]
                    if torch.cuda.is_available():
                        activities.append(torch.profiler.ProfilerActivity.CUDA)
                    profile.profiler = torch.profiler.profile(activities=activities)
                    profile.profiler.__enter__()

            def after_train_iter(self, runner, batch_idx, data_batch=None,
                                 outputs=None):
                if batch_idx == start + count - 1:
                    StepTimes.now()  # waits for the GPU's queue
                    profile.profiler.__exit__(None, None, None)
                    averages = profile.profiler.key_averages()
                    with open(path, 'w') as f:
                        f.write(profile.phase_table(averages, count) + '\n\n')
                        for key in ('self_cuda_time_total', 'cpu_time_total'):
                            f.write(f'{count} iterations, by {key}\n')
                            f.write(averages.table(sort_by=key, row_limit=30))
                            f.write('\n\n')

        self.hook = Profile()

    @staticmethod
    def phase_table(averages, count: int) -> str:
        """Per phase and iteration: host milliseconds and the GPU
        milliseconds of its kernels; and all kernels' GPU time."""
        def device_ms(event, attr):
            value = getattr(event, attr.replace('cuda', 'device'), None)
            return (value if value is not None else getattr(event, attr, 0)) / 1e3

        rows = [[event.key[len(PHASE_RANGE_PREFIX):],
                 f'{event.cpu_time_total / 1e3 / count:.1f}',
                 f'{device_ms(event, "cuda_time_total") / count:.1f}']
                for event in averages if event.key.startswith(PHASE_RANGE_PREFIX)]
        busy = sum(device_ms(event, 'self_cuda_time_total') for event in averages)
        rows.append(['all kernels of the profiled iterations', '',
                     f'{busy / count:.1f}'])
        return (f'{count} profiled iterations, ms per iteration\n'
                + markdown_table(['phase', 'host', 'GPU kernels'], rows))
