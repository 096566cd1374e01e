"""Errors a person can act on (the Python side of src-main/util/errors.ts)."""

CODES = ("invalid_config", "invalid_dataset", "invalid_checkpoint", "not_found", "non_finite_loss",
         "engine_unavailable", "invalid_request", "conflict", "internal")


class MotlabError(Exception):
    """What went wrong, where (a file, a config field) and why; `code` is the lab's error code."""

    def __init__(self, code, message):
        if code not in CODES:
            raise ValueError(f"unknown MotlabError code {code!r}")
        super().__init__(message)
        self.code = code
        self.message = message

    def __str__(self):
        return self.message
