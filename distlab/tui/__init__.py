"""The distlab dashboard (Textual): renders the event stream, sends commands to a back end.

from distlab.tui.app import DistlabApp
from distlab.tui.backend import ReplayBackend
DistlabApp(ReplayBackend(Path("events.jsonl"))).run()
"""
