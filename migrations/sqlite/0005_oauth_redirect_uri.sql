-- The redirect_uri a connect flow sent to Meta's login window, so that the
-- callback exchanges the code with the identical value: without APP_URL it is
-- built from the admin's own request, which the callback cannot know.
-- Empty for flows begun before this column existed.
ALTER TABLE oauth_states ADD COLUMN redirect_uri TEXT NOT NULL DEFAULT '';
