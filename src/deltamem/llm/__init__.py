"""Chat models: the packaged local GGUF model (xllamacpp), any OpenAI-compatible endpoint, and a scripted fake."""

from deltamem.llm.base import ChatModel, ChatModelWrapper, ChatRequest, ChatResponse, Message, ToolCall, Usage
from deltamem.llm.scripted import ScriptedChatModel

__all__ = ["ChatModel", "ChatModelWrapper", "ChatRequest", "ChatResponse", "Message", "ScriptedChatModel", "ToolCall",
           "Usage"]
