from och_dashboard import create_app

app = create_app()
