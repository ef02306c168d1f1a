-- Every change to an account, whoever writes it (a server, the command line,
-- an older instance), tells the other processes at once: they LISTEN on this
-- channel and re-read the accounts. The payload is empty, so PostgreSQL folds
-- the notices of one transaction into one.
CREATE FUNCTION token_agent_accounts_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('token_agent_accounts', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER accounts_changed
    AFTER INSERT OR UPDATE OR DELETE ON accounts
    FOR EACH ROW EXECUTE FUNCTION token_agent_accounts_changed();
