"""Files: the OpenAI Files API (``purpose=assistants``) on the agent's data volume."""
