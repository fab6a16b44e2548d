"""``torch.distributed.checkpoint`` without unpickling arbitrary objects.

DCP stores every non-tensor value of a state dict (an optimizer's hyperparameters, Adafactor's
Python-int step counter, a schedule's state) as a pickle, and its ``DefaultLoadPlanner`` reads
them with ``torch.load(weights_only=False)``, which runs whatever the file says.
:class:`WeightsOnlyLoadPlanner` reads them with ``weights_only=True`` instead: numbers, strings,
``None``, tuples, lists and dicts load; anything else raises.

>>> import tempfile, torch, torch.distributed.checkpoint as dcp
>>> path = tempfile.mkdtemp()
>>> _ = dcp.save({"step": 3, "w": torch.ones(2)}, checkpoint_id=path, no_dist=True)
>>> state = {"step": 0, "w": torch.zeros(2)}
>>> dcp.load(state, checkpoint_id=path, planner=WeightsOnlyLoadPlanner(), no_dist=True)
>>> state
{'step': 3, 'w': tensor([1., 1.])}
"""

from __future__ import annotations

import io

import torch
from torch.distributed.checkpoint import DefaultLoadPlanner
from torch.distributed.checkpoint._traverse import set_element
from torch.distributed.checkpoint.planner import ReadItem


class WeightsOnlyLoadPlanner(DefaultLoadPlanner):
    """``DefaultLoadPlanner`` whose non-tensor values load with ``torch.load(weights_only=True)``."""

    def load_bytes(self, read_item: ReadItem, value: io.BytesIO) -> None:
        # DefaultLoadPlanner.load_bytes with weights_only=True.
        loaded = torch.load(value, weights_only=True)
        if self.flatten_state_dict:
            set_element(self.original_state_dict, self.mappings[read_item.dest_index.fqn], loaded)
        else:
            self.state_dict[read_item.dest_index.fqn] = loaded
