"""Version of the scoring semantics (bump on any change to what a response scores; see README changelog)."""

REWARD_VERSION = "1.1.0"
