"""Running the league: every action one signed entry, and the rules every entry must keep.

- ``actions``: the writing commands (init, teams, rounds, propose, submit, reveal);
- ``checks``: the rules of every entry, called by actions, validate, verify and closing;
- ``secrets``, ``plan``, ``judge``, ``closing``: closing a round (open the secrets, plan the
  replay, judge the outcomes, commit the results);
- ``verify``, ``validate``, ``shards``, ``workflows``: re-deriving a ledger, checking pull
  requests, replay split over CI jobs, the GitHub workflows a tournament carries.
"""
