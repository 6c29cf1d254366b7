"""The judge-validation kit: is the process reward's judge repeatable, does it agree with pathologists, what does
it cost? `python -m pathvlm_rewards.audit {consistency,export,agreement,cost} --help`."""
