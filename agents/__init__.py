"""dagwright's LLM-facing side: the client seam, its Anthropic adapter and test fakes.

Note: `agents` is also the import name of the OpenAI Agents SDK (`openai-agents`);
install them in separate environments.
"""

from agents.client import LLMClient, LLMRequest, LLMResponse, StreamEventHandler, TokenCount
from agents.errors import ErrorKind, LLMError
from agents.ratelimit import BucketReading, RateLimitSnapshot
from agents.usage import Usage

__all__ = [
    "BucketReading",
    "ErrorKind",
    "LLMClient",
    "LLMError",
    "LLMRequest",
    "LLMResponse",
    "RateLimitSnapshot",
    "StreamEventHandler",
    "TokenCount",
    "Usage",
]
