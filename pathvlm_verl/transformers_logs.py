"""Drop one known-harmless transformers warning that verl's SFT dataset repeats for every item.

verl 0.9.1's SFT dataset passes `data.apply_chat_template_kwargs` (our pixel budget, conf/pathvlm_sft.yaml)
to `processor.apply_chat_template` as keyword arguments. transformers 5 forwards them to the processor, so
the budget applies (tests/recipes/test_configs_on_cpu.py), but warns on each of the three calls per item:
hundreds of lines per run. The form it asks for, `processor_kwargs={...}`, cannot be written in our config:
verl hands it over as a struct OmegaConf node, into which transformers then adds `return_tensors` and fails.
Imported once per process with this package (`model.external_lib: pathvlm_verl`).
"""

from __future__ import annotations

import logging

PROCESSOR_KWARGS_WARNING = "Kwargs passed to `processor.__call__` have to be in `processor_kwargs`"
# The logger transformers emits it from (`logging.get_logger(__name__)` in transformers/processing_utils.py).
PROCESSOR_LOGGER = "transformers.processing_utils"


def keep_record(record: logging.LogRecord) -> bool:
    """Logging filter: every record but the processor-kwargs warning."""
    return PROCESSOR_KWARGS_WARNING not in record.getMessage()


logging.getLogger(PROCESSOR_LOGGER).addFilter(keep_record)
