/* placeholder */ typedef int tern__placeholder_conn;
