"""The memory agent: one ReAct loop per session that emits ADD / UPDATE / DELETE / NOOP."""

from deltamem.agent.guards import GuardConfig, Rejected
from deltamem.agent.loop import AgentConfig, AgentResult, MemoryAgent, Turn
from deltamem.agent.session import Message, Session, load_sessions, to_session
from deltamem.agent.tools import MemorySearch

__all__ = [
    "AgentConfig", "AgentResult", "GuardConfig", "MemoryAgent", "MemorySearch", "Message", "Rejected", "Session",
    "Turn", "load_sessions", "to_session",
]
