"""A challenge on a proposer's disk, before it is proposed: create, read, import.

``create`` trains a model on a labeler and writes the folder ``dixit challenge new`` writes;
``read`` checks one; ``importing.import_model`` brings a model trained elsewhere.
"""

from dixit.challenge.folder import (
    KINDS,
    LocalChallenge,
    arch_overrides,
    create,
    judging,
    parse_settings,
    read,
    read_flag,
    read_flag_file,
    read_program,
    read_secret,
    read_submission,
    run_labeler_locally,
)
from dixit.rules.flags import MAX_FLAG_CHARS, check_flag, flag_matches, normalize_flag

__all__ = ["KINDS", "MAX_FLAG_CHARS", "LocalChallenge", "arch_overrides", "check_flag", "create",
           "flag_matches", "judging", "normalize_flag", "parse_settings", "read", "read_flag",
           "read_flag_file", "read_program", "read_secret", "read_submission",
           "run_labeler_locally"]
