/* placeholder */ typedef int tern__placeholder_log;
