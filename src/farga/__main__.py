from farga.cli import app

app()
