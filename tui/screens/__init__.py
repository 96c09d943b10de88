"""The app's screens: sign-in, dashboard, course, lesson, quiz, assignment, path and
achievements."""
