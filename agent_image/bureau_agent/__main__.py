from bureau_agent.cli import app

app()
