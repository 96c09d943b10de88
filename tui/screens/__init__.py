"""The app's screens: sign-in, dashboard, course, lesson and quiz."""
