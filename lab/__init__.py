"""The lab: a digital twin of a CUCM / IM&P cluster that speaks the real protocols.

It is a separate system from ucrenew's orchestrator (nothing here imports workflows,
activities, workers or console): ucrenew talks to it over sockets exactly as to a real cluster.
"""
