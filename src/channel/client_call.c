/* placeholder */ typedef int tern__placeholder_client_call;
